"""The HTML part of an email, made from the rendered text so both parts always say the same."""

from html import escape


def text_with_footer(body: str, unsubscribe_url: str | None) -> str:
    if not unsubscribe_url:
        return body
    return f"{body.rstrip()}\n\n--\nUnsubscribe: {unsubscribe_url}\n"


def html_part(body: str, subject: str, unsubscribe_url: str | None) -> str:
    """Paragraphs from blank-line separated blocks, line breaks kept; everything escaped."""
    paragraphs = [p for p in body.strip().split("\n\n") if p.strip()]
    inner = "\n".join(
        "<p>" + "<br>\n".join(escape(line) for line in p.splitlines()) + "</p>" for p in paragraphs
    )
    footer = (
        f'<p style="font-size:12px;color:#667"><a href="{escape(unsubscribe_url)}">Unsubscribe</a>'
        " from these emails.</p>"
        if unsubscribe_url
        else ""
    )
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>\n"
        f'<body style="font-family:sans-serif;line-height:1.5">\n{inner}\n{footer}\n</body></html>\n'
    )
