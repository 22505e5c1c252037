"""Distillery: black-box knowledge distillation of LLMs as a service.

Edges (api/, cli/, workers/) call the domain (jobs/, methods/, teachers/, curation/,
datasets/), which uses db/, schemas/ and settings; never the other way round.
"""
