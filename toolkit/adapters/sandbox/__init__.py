"""The sandbox venue: a local exchange server (`toolkit venue`) and the adapter clients that trade on it."""
