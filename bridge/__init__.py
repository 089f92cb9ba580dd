"""A Matrix appservice bridge to a messaging gatekeeper's DMA interoperability gateway."""

__version__ = "0.1.0"
