"""The kernel and the engines it wires: data, risk, execution, portfolio and trader."""
