"""CRM outcomes (opportunities) in Redis: loaded by `abm outcomes load`, read by
`abm backtest`."""
