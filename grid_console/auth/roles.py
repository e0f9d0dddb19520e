"""The six roles and what each may do: one table, read by every route.

admin and operator (the monitoring centre) see every case; everyone else sees only the cases of
their own grids and of those grids' micro-grids. Which case actions each role may take is the
second table; the state machine (cases/machine.py) still decides whether the case's state
allows the action at all.
"""

from __future__ import annotations

from enum import StrEnum

from grid_console.cases.machine import Action


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"  # 监控中心
    GRID_LEADER = "grid_leader"  # 包网格领导
    GRID_HEAD = "grid_head"  # 网格长
    PATROL = "patrol"  # 网格员 / 安全自防队员
    VOLUNTEER = "volunteer"  # 志愿者


ROLE_NAMES_ZH: dict[Role, str] = {
    Role.ADMIN: "管理员",
    Role.OPERATOR: "监控中心",
    Role.GRID_LEADER: "包网格领导",
    Role.GRID_HEAD: "网格长",
    Role.PATROL: "网格员",
    Role.VOLUNTEER: "志愿者",
}

# Roles that see every grid's cases.
SEES_ALL_GRIDS: frozenset[Role] = frozenset({Role.ADMIN, Role.OPERATOR})
# Roles that may read the directory (grids, people, rosters) and the health of nodes.
READS_DIRECTORY: frozenset[Role] = frozenset({Role.ADMIN, Role.OPERATOR})
# Roles that may change the directory and accounts.
WRITES_DIRECTORY: frozenset[Role] = frozenset({Role.ADMIN})
# Roles that may see and record leave, stand-ins and extra duty: the centre hears first that
# a patrol is ill tonight, over every grid; a grid head arranges their own grids' patrols.
WRITES_DUTY: frozenset[Role] = frozenset({Role.ADMIN, Role.OPERATOR, Role.GRID_HEAD})
# Roles that may read the weekly figures: the centre every grid's, grid heads and leaders
# their own grids' and micro-grids' (they answer for them). Patrols and volunteers do not:
# the figures judge the people who do the work, and are for those who lead it.
READS_FIGURES: frozenset[Role] = frozenset(
    {Role.ADMIN, Role.OPERATOR, Role.GRID_LEADER, Role.GRID_HEAD}
)

_ALL = frozenset(Action)
CASE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: _ALL,
    Role.OPERATOR: _ALL,
    Role.GRID_LEADER: frozenset(
        {
            Action.REGISTER,
            Action.DISPATCH,
            Action.CLOSE,
            Action.FALSE_ALARM,
            Action.DEFER,
            Action.REOPEN,
        }
    ),
    Role.GRID_HEAD: _ALL,
    Role.PATROL: frozenset(
        {Action.ACCEPT, Action.ARRIVE, Action.HANDLE, Action.RETURN, Action.FALSE_ALARM}
    ),
    Role.VOLUNTEER: frozenset({Action.ACCEPT, Action.ARRIVE, Action.HANDLE, Action.RETURN}),
}

# Who can be sent a case (dispatch `to`): the people who go out, and the grid head who is
# the fallback when nobody is on duty.
DISPATCHABLE: frozenset[Role] = frozenset({Role.PATROL, Role.VOLUNTEER, Role.GRID_HEAD})


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; roles are: {names}") from None
