"""Measuring a trained LeNet-5: metrics over a split (``metrics``: pure tensor functions), the
predictions table (``predictions``, with pandas), one digit's way through the layers
(``introspection``), one unit's arithmetic (``explain``), saturated and dead units epoch by
epoch (``health``) and the reproduction against the 1998 paper (``paper``).

The modules are imported by their own names: a training process needs ``metrics`` and
``health`` only, and should not pay for pandas.
"""
