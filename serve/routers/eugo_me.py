"""The signed-in EU citizen's own identity, as eIDAS gave it: proof that a citizens' realm token works end to end."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from serve.citizens import CitizenCaller
from serve.routers.cases import PROBLEMS

router = APIRouter(prefix="/api/eugo", tags=["eugo"], responses=PROBLEMS)


class CitizenIdentity(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str = Field(description="the citizens' realm's id of the account")
    country: str = Field(description="the member state that identified the citizen (ISO 3166 alpha-2)")
    person_id: str = Field(description="that state's identifier of the citizen")
    person_identifier: str = Field(description="the eIDAS PersonIdentifier: <country>/EL/<person_id>")
    family_name: str | None
    given_name: str | None
    birthdate: str | None = Field(description="YYYY-MM-DD")
    loa: Literal["low", "substantial", "high"] = Field(description="the eIDAS level of assurance of the sign-in")


@router.get("/me", response_model=CitizenIdentity)
async def me(citizen: CitizenCaller) -> CitizenIdentity:
    return CitizenIdentity(
        subject=citizen.subject,
        country=citizen.country,
        person_id=citizen.person_id,
        person_identifier=citizen.person_identifier,
        family_name=citizen.family_name,
        given_name=citizen.given_name,
        birthdate=citizen.birthdate,
        loa=citizen.loa.label,
    )
