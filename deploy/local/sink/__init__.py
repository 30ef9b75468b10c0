"""A local sink for notify's channels: SMTP, the SMS provider API and the task webhook.

`make run` starts it so that a first run delivers: notify's email, SMS and webhook targets point
here, and what arrives is kept under .state/sink (one JSON line per message) and shown at
http://127.0.0.1:<CLM_SINK_HTTP_PORT>/ and by `clm messages`. A development tool, not a provider.
"""
