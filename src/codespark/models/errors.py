"""The one error type model installation raises; its message always says what to do about it."""


class ModelInstallError(RuntimeError):
    pass
