"""Default behaviour of the runtime, shipped as a plugin so an installed plugin can replace it."""

from __future__ import annotations

from core.gateway.types import Outcome, Session
from core.hookspecs import hookimpl
from core.spec import Decoded


@hookimpl(trylast=True)
def specgate_decode_frame(session: Session, frame: bytes) -> Decoded:
    return session.spec.decode(frame)


@hookimpl(trylast=True)
def specgate_build_reply(session: Session, outcome: Outcome) -> bytes | None:
    if outcome.reply_message is None or outcome.reply is None:
        return None
    return session.spec.encode(outcome.reply_message, outcome.reply)
