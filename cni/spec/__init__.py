"""Sans-I/O CNI protocol core: environment, configuration, results and errors for 0.3.0-1.1.0."""

from .config import Attachment, NetConf, parse_config
from .env import Invocation, parse_env
from .errors import CNIError
from .request import Request, error_version, parse_request, version_answer
from .result import DNS, Interface, IPConfig, Result, Route, parse_result
from .versions import LATEST, SUPPORTED

__all__ = [
    "Attachment", "CNIError", "DNS", "Interface", "IPConfig", "Invocation", "LATEST", "NetConf",
    "Request", "Result", "Route", "SUPPORTED", "error_version", "parse_config", "parse_env",
    "parse_request", "parse_result", "version_answer",
]
