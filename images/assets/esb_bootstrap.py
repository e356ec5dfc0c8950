"""esb's Python runtime launcher: awslambdaric, plus the trace id that RIE drops.

RIE does not pass an invoke's X-Amzn-Trace-Id on to the runtime, but it does pass the client
context. esb puts the trace id into the client context's `custom` map under "X-Amzn-Trace-Id";
this launcher sets `_X_AMZN_TRACE_ID` from it before each invocation, as Lambda would.
"""
import json
import os
import sys

from awslambdaric import __main__ as ric_main
from awslambdaric import bootstrap

TRACE_KEY = "X-Amzn-Trace-Id"
_handle_event_request = bootstrap.handle_event_request


def _trace_from(client_context_json):
    if not client_context_json:
        return None
    try:
        custom = json.loads(client_context_json).get("custom") or {}
    except (ValueError, AttributeError):
        return None
    trace = custom.get(TRACE_KEY)
    return trace if isinstance(trace, str) else None


def handle_event_request(client, handler, invoke_id, body, content_type, client_context_json, *args, **kwargs):
    trace = _trace_from(client_context_json)
    if trace and not os.environ.get("_X_AMZN_TRACE_ID"):
        os.environ["_X_AMZN_TRACE_ID"] = trace
    return _handle_event_request(client, handler, invoke_id, body, content_type, client_context_json, *args, **kwargs)


bootstrap.handle_event_request = handle_event_request


def _debugger_from_env():
    """`esb invoke -d PORT` sets ESB_DEBUG_PORT: listen with debugpy there (when the function
    ships it) and wait for a debugger before the handler's module is imported."""
    port = os.environ.get("ESB_DEBUG_PORT")
    if not port:
        return
    try:
        import debugpy
    except ImportError:
        sys.stderr.write(
            "esb: ESB_DEBUG_PORT is set but debugpy cannot be imported; add debugpy to the "
            "function's requirements.txt (or a layer) to debug it. Running without a debugger.\n"
        )
        return
    debugpy.listen(("0.0.0.0", int(port)))
    sys.stderr.write(f"esb: debugpy on port {port}, waiting for a debugger to attach\n")
    debugpy.wait_for_client()


if __name__ == "__main__":
    _debugger_from_env()
    ric_main.main(sys.argv)
