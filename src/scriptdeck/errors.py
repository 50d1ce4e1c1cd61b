"""The exception tree of scriptdeck: every error a user or a plugin author can see.

    ScriptdeckError
     ├── UserError               bad input; reported, the host keeps running; CLI exit 2
     │    ├── ManifestError       a plugin folder or script file that cannot be understood
     │    ├── SettingsError       a setting value that does not fit its schema
     │    ├── UnknownServiceError a service id that names nothing installed
     │    └── FormatChoiceError   no format, or several, for a file; the user must choose
     ├── RunError                a run of plugin code did not succeed; CLI exit 1
     │    ├── PluginRaisedError   the plugin raised; the traceback is in the run log
     │    ├── WorkerDiedError     the worker process died (os._exit, a segfault)
     │    ├── RunTimeoutError     "timed out after S s"
     │    ├── RunCancelledError   the user cancelled
     │    └── AlreadyRunningError another automation script owns the machine
     └── MachineError            the machine or its link
          ├── MachineBusyError    another owner holds the lease; names the owner
          ├── NotConnectedError   no connection, or it was lost ("machine disconnected")
          ├── FirmwareHaltError   the firmware reported Error: and halted
          ├── AckTimeoutError     no acknowledgement in time; names the last line sent
          └── ProtocolError       an impossible resend request, a malformed URL, ...

User errors are reported and the host keeps going; everything else is logged with its
traceback, ends that run only, and never takes the host down.
"""

from __future__ import annotations


class ScriptdeckError(Exception):
    """Base of every error scriptdeck raises on purpose."""


class UserError(ScriptdeckError):
    """Bad input from a user or a plugin author."""


class ManifestError(UserError):
    """A plugin that cannot be understood."""


class SettingsError(UserError):
    """A setting value that does not fit its schema (names the field, the value and the rule)."""


class UnknownServiceError(UserError):
    """A service id that does not name an installed, enabled service."""


class FormatChoiceError(UserError):
    """No format, or more than one, matches a file and none was chosen."""


class RunError(ScriptdeckError):
    """A run of plugin code that did not succeed."""


class PluginRaisedError(RunError):
    """The plugin raised an exception."""


class WorkerDiedError(RunError):
    """The worker process died without reporting a result."""


class RunTimeoutError(RunError):
    """The run exceeded its time limit."""


class RunCancelledError(RunError):
    """The run was cancelled."""


class AlreadyRunningError(RunError):
    """Another automation script is running on this machine."""


class MachineError(ScriptdeckError):
    """The machine or its link."""


class MachineBusyError(MachineError):
    """Another owner holds the machine's lease."""


class NotConnectedError(MachineError):
    """The machine is not connected, or the connection was lost."""


class FirmwareHaltError(MachineError):
    """The firmware reported an error and halted."""


class AckTimeoutError(MachineError):
    """No acknowledgement arrived in time."""


class ProtocolError(MachineError):
    """The line protocol cannot go on (impossible resend, malformed URL...)."""
