"""`/_emulator`: test controls, not part of the registry's contract (never authenticated,
counted or faulted). Faults are the shared routes of `emulators.faults`.

- `POST /_emulator/hold` `{"path_prefix", "method", "seconds", "count"}`: the next `count`
  (default 1) matching calls hang for `seconds` before anything else happens (auth, faults,
  the handler); `DELETE` forgets pending holds and releases the calls held right now.
- `PUT /_emulator/consistency` (see `consistency.py`); `DELETE` clears the mode.
- `POST /_emulator/reset`: empty the registry (ids restart at 1), clear faults, holds and
  call counts.
- `GET /_emulator/state`: counts of models/versions/bindings, per-route call counts
  (`"POST /versions": 2`), faults not used up, pending holds, calls held now and calls dropped.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from emulators.faults import CONTROL_PREFIX

from .consistency import ConsistencySpec
from .faults import EmulatorControl, Hold
from .routes import StoreDep
from .schemas import HoldSpec


def current_control(request: Request) -> EmulatorControl:
    control = request.app.state.control
    assert isinstance(control, EmulatorControl)
    return control


ControlDep = Annotated[EmulatorControl, Depends(current_control)]

router = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator"])


@router.post("/hold", status_code=201)
async def add_hold(control: ControlDep, spec: HoldSpec) -> dict[str, Any]:
    hold = Hold(
        path_prefix=spec.path_prefix,
        method=spec.method.upper() if spec.method else None,
        seconds=spec.seconds,
        remaining=spec.count,
    )
    control.holds.append(hold)
    return hold.as_dict()


@router.delete("/hold")
async def release_holds(control: ControlDep) -> dict[str, Any]:
    released = control.held_now
    control.release_holds()
    return {"released": released}


@router.put("/consistency")
async def set_consistency(store: StoreDep, spec: ConsistencySpec) -> dict[str, Any]:
    store.visibility.configure(spec)
    return store.visibility.as_dict()


@router.delete("/consistency")
async def clear_consistency(store: StoreDep) -> dict[str, Any]:
    store.visibility.clear()
    return store.visibility.as_dict()


@router.post("/reset")
async def reset(store: StoreDep, control: ControlDep) -> dict[str, Any]:
    store.reset()
    control.reset()
    return {"reset": True}


@router.get("/state")
async def state(store: StoreDep, control: ControlDep) -> dict[str, Any]:
    return {
        "models": len(store.models),
        "versions": len(store.versions),
        "active_versions": sum(1 for v in store.versions.values() if v.archived_at is None),
        "bindings": len(store.bindings),
        "calls": dict(control.calls),
        "faults": [rule.to_api() for rule in control.faults.active()],
        "holds": [h.as_dict() for h in control.holds],
        "held_calls": control.held_now,
        "dropped_calls": control.dropped_calls,
        "consistency": store.visibility.as_dict(),
    }
