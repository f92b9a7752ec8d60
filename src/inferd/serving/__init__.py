"""What is loaded and how requests reach it: the model manager (versions, warm-up, readiness,
hot swap), the dynamic batcher (queue, deadline, shedding), the signature check and the
:class:`~inferd.serving.types.DataPlane` — the one entry every protocol calls.

May import runtimes, store, observe and the kernel; never protocols, control or the server.
"""
