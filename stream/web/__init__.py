"""The worker's web side: the account pages and their JSON, served by the Faust app itself.

- `templates`: the HTML, one module per page.
"""
