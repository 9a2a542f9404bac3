"""EU DCC signers page (issue 13): which countries' Document Signer
Certificates the gates trust, from which import, and which gates hold it."""

from __future__ import annotations

import datetime as dt
import re
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fleet.services import dcc

from .context import READERS_DISTRICT, Ctx, page, render

router = APIRouter()
COUNTRY = re.compile(r"[A-Z]{2}\Z")


def _day(t: int) -> dt.date:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).date()


@router.get("/dcc")
def dcc_page(request: Request) -> Response:
    def view(ctx: Ctx) -> Response:
        country = (request.query_params.get("country") or "").upper()
        country = country if COUNTRY.match(country) else None
        data = dcc.dashboard(ctx.db, int(time.time()), country)
        return render(ctx, "dcc.html", data=data, country=country,
                      iso_day=lambda t: _day(t).isoformat(), vn_day=lambda t: _day(t).strftime("%d/%m/%Y"))
    return page(request, READERS_DISTRICT, view)
