"""Carrying out what `actors.cases.lockstep` decides a case change means for its process instance."""

from __future__ import annotations

import structlog

from actors.cases.lockstep import StartProcess
from actors.cases.reconcile import DeleteInstance, Repair
from bpmn_bridge.engine import EngineClient
from bpmn_bridge.errors import EngineRejected

log = structlog.get_logger("process_sync")


async def carry_out(engine: EngineClient, intent: Repair) -> bool:
    """Start the instance (nothing new if one runs with the business key, or for a case's first instance, if one
    ever ran) or deliver the message; whether the engine changed anything (False: an instance ran already, or
    nothing was waiting for the message)."""
    if isinstance(intent, DeleteInstance):
        return await engine.delete_process_instance(intent.process_instance_id)
    if isinstance(intent, StartProcess):
        instance = await engine.start_process(intent.process_key, business_key=intent.business_key,
                                              variables=intent.variables, once=intent.once)  # fmt: skip
        return instance.started
    try:
        await engine.correlate_message(intent.message.value, business_key=intent.business_key,
                                       variables=intent.variables, all_waiting=intent.all_waiting)  # fmt: skip
    except EngineRejected:  # nothing waits for it: nothing to move (the reconciler checks what should have)
        log.debug("process_message_unheard", message=intent.message.value, case_id=intent.business_key)
        return False
    return True
