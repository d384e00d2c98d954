"""Click tracking: `/t/<code>/` records a click and sends the visitor to the landing page."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.affiliates.selectors import clickable_link
from apps.affiliates.services import click_record
from apps.affiliates.throttle import click_retry_after
from apps.core import conf
from apps.core.api.problems import problem_json_response
from apps.core.bounded import text_violations

TOKEN_PARAM = "ah_token"


def landing_url_with_token(landing_url: str, token: str) -> str:
    """The landing URL with `ah_token=<token>` added, its own query string and fragment kept."""
    parts = urlsplit(landing_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != TOKEN_PARAM]
    query.append((TOKEN_PARAM, token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _visitor_country(request) -> str:
    """The country the edge (CDN, load balancer) located the visitor in, from the header named
    by AFFILIATEHUB_CLICK_COUNTRY_HEADER (e.g. CF-IPCountry); empty when none is configured."""
    header = conf.text("AFFILIATEHUB_CLICK_COUNTRY_HEADER")
    return request.headers.get(header, "") if header else ""


@never_cache
@require_GET
def track_click(request, link_code: str):
    # PostgreSQL cannot store a NUL: refused, naming the parameter, before anything is read.
    nul = text_violations(
        {
            "link_code": link_code,
            **request.GET.dict(),
            "User-Agent": request.headers.get("User-Agent", ""),
        }
    )
    if nul:
        return problem_json_response(400, "A parameter contains a NUL character.", errors=nul)
    ip = request.META.get("REMOTE_ADDR") or None
    retry_after = click_retry_after(ip=ip)
    if retry_after is not None:
        response = problem_json_response(429, "Too many clicks from this client; retry later.")
        response["Retry-After"] = str(retry_after)
        return response
    link = clickable_link(code=link_code)
    if link is None:
        return problem_json_response(
            404, "No active tracking link with this code.", slug="tracking-link-not-found"
        )
    click = click_record(
        link=link,
        sub_ids={f"sub{i}": request.GET.get(f"sub{i}", "") for i in range(1, 6)},
        ip=ip,
        user_agent=request.headers.get("User-Agent", ""),
        country=_visitor_country(request),
    )
    response = HttpResponseRedirect(landing_url_with_token(link.landing_url, click.token))
    response["Referrer-Policy"] = "no-referrer"
    return response
