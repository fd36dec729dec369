"""The real-time coding agent: a client of the Responses protocol (never imports api/ or engine/)."""
