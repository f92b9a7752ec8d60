"""The Linux kernel's numbers the sandbox hands to ``unshare``, ``mount`` and ``prctl``
(``<linux/sched.h>``, ``<linux/mount.h>``, ``<linux/prctl.h>``), named once for the modules that
isolate the worker (:mod:`.isolation`, :mod:`.views`, :mod:`.pidns`).

Standard library only, like its users: they run before the worker imports numpy.
"""

from __future__ import annotations

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
