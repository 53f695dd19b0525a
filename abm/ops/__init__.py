"""Operations: the metric catalog of every process and the Grafana dashboard built from it."""
