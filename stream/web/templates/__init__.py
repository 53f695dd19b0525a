"""HTML of the worker's pages, rendered on the server as f-strings (no JavaScript, no build
step), one module per page: `account`, `account_list`, `message`, with the score chart in `svg`
and what they share (the CSP, the style, the page shell, `esc`) in `base`."""
