"""inferd.sandbox: trusted model code run in a worker process of its own, isolated and limited.

The server side (:mod:`.process`, :mod:`.model`) starts ``python -m inferd.sandbox.worker``,
which isolates itself (:mod:`.isolation`: network and mount namespaces, no capabilities,
resource limits) before it imports numpy or any user code, then serves calls over a socketpair
in length-prefixed frames of ``.npy`` arrays (:mod:`.wire`, :mod:`.tensors`) — never pickle.

This ``__init__`` imports nothing on purpose: the worker must start single-threaded and small,
and importing the package is the first thing it does.
"""
