"""`abm backtest`: reading the touchpoints (a JSONL file or touchpoints.resolved), the
opportunities and the models, and writing the report. The figures are `abm.core.backtest`'s."""
