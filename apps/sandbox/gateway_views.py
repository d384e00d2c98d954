"""HTTP face of the sandbox payment gateway (under /sandbox/gateway/). Thin: parse, call the
gateway service, answer; the result webhook is scheduled after commit."""

from __future__ import annotations

import orjson
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.sandbox import gateway
from apps.sandbox.gateway_models import SandboxGatewayPayout


def _answer(payout: SandboxGatewayPayout, status: int) -> JsonResponse:
    return JsonResponse(
        {
            "reference": payout.reference,
            "gateway_reference": payout.gateway_reference,
            "status": payout.status,
            "attempt": payout.attempt,
            "amount": str(payout.amount),
            "currency": payout.currency,
        },
        status=status,
    )


@csrf_exempt
@require_POST
def payout_create(request: HttpRequest) -> JsonResponse:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return JsonResponse({"error": "invalid_json"}, status=400)
    try:
        accepted = gateway.gateway_payout_request(
            idempotency_key=request.headers.get("Idempotency-Key", ""), body=body
        )
    except gateway.GatewayRequestInvalid as exc:
        return JsonResponse({"error": "invalid_request", "errors": exc.errors}, status=422)
    except gateway.IdempotencyConflict as exc:
        return JsonResponse({"error": "idempotency_conflict", "detail": str(exc)}, status=409)
    if accepted.created:
        from apps.sandbox import gateway_tasks

        args, countdown = [accepted.payout.pk, accepted.payout.attempt], accepted.settle_in
        transaction.on_commit(
            lambda: gateway_tasks.settle_payout.apply_async(args=args, countdown=countdown)
        )
        return _answer(accepted.payout, 202)
    return _answer(accepted.payout, 200)  # the same key again: what it produced, nothing new


@require_GET
def payout_detail(request: HttpRequest, idempotency_key: str) -> JsonResponse:
    payout = SandboxGatewayPayout.objects.filter(idempotency_key=idempotency_key).first()
    if payout is None:
        return JsonResponse({"error": "not_found"}, status=404)
    return _answer(payout, 200)
