"""Memory that learns from use: feedback, confidence decay and boost, the memory graph."""
