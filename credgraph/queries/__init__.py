"""The analyses: parameterised Cypher plus pure-Python scoring."""
