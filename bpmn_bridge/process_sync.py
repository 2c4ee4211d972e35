"""Carrying out what `actors.cases.lockstep` decides a case change means for its process instance."""

from __future__ import annotations

import structlog

from actors.cases.lockstep import MoveOffice, StartProcess
from actors.cases.reconcile import DeleteInstance, Repair
from bpmn_bridge.engine import EngineClient
from bpmn_bridge.errors import EngineRejected, TaskGone

log = structlog.get_logger("process_sync")


async def carry_out(engine: EngineClient, intent: Repair) -> bool:
    """Start the instance (nothing new if one runs with the business key, or for a case's first instance, if one
    ever ran) or deliver the message; whether the engine changed anything (False: an instance ran already, or
    nothing was waiting for the message)."""
    if isinstance(intent, DeleteInstance):
        return await engine.delete_process_instance(intent.process_instance_id)
    if isinstance(intent, MoveOffice):
        return await move_office(engine, intent)
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


async def move_office(engine: EngineClient, intent: MoveOffice) -> bool:
    """The case's running instance(s) and their open user tasks to the new office; whether anything moved (False:
    nothing was left to move, e.g. a repeat, or no instance runs)."""
    moved = False
    for instance in await engine.process_instances(business_key=intent.business_key):
        variables = await engine.process_variables(instance.id)
        if variables.get("office") != intent.office:
            await engine.set_variables(instance.id, {"office": intent.office})
            moved = True
        for task in await engine.user_tasks(process_instance_id=instance.id, include_assigned=True):
            try:
                groups = await engine.candidate_groups(task.id)
                if groups == {intent.office}:
                    continue  # moved before: whoever has it now is of the new office
                # the claim first: a task still offered to the old office is held by someone of it, if anyone
                if task.assignee is not None:
                    await engine.unclaim(task.id)
                if intent.office not in groups:
                    await engine.add_candidate_group(task.id, intent.office)
                for group in groups - {intent.office}:
                    await engine.remove_candidate_group(task.id, group)
                moved = True
            except TaskGone:  # completed meanwhile: the instance's next task is the new office's already
                continue
    return moved
