"""Menus and commands built from a table: one ``ActionSpec`` per command.

A spec says which menu the command sits in, what it reads, its keys, what it runs and when
it can run; ``build_menus`` turns a table of them into the window's menus and actions, and
``enable`` switches each action on or off from the window's state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from operator import attrgetter

from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QMainWindow, QMenu


class Kind(Enum):
    """How a spec's action is made."""

    #: A plain command that runs its handler.
    COMMAND = "command"
    #: A submenu filled in elsewhere (Open Recent).
    SUBMENU = "submenu"
    #: The undo stack's own Undo and Redo, whose text says what they would undo or redo.
    UNDO = "undo"
    REDO = "redo"


@dataclass(frozen=True)
class ActionSpec:
    """One command of the window's menus."""

    menu: str
    #: The key in ``window.actions`` and, as ``action_<name>``, the action's object name.
    name: str
    text: str
    #: What it runs: an attribute path from the window, such as ``"files.save"``.
    handler: str = ""
    #: Arguments for the handler.
    args: tuple[object, ...] = ()
    #: A platform key binding (all of its sequences are used) or a key sequence.
    shortcut: QKeySequence.StandardKey | str | None = None
    #: The keys to use where the platform has no binding for ``shortcut``.
    fallback: str | None = None
    tip: str | None = None
    #: The name of the window state that enables it (always enabled when None).
    enabled_when: str | None = None
    #: Draw a separator line above it.
    separated: bool = False
    kind: Kind = Kind.COMMAND


def build_menus(
    window: QMainWindow, specs: Iterable[ActionSpec], undo_stack: QUndoStack
) -> tuple[dict[str, QAction], dict[str, QMenu]]:
    """Add the menus and actions ``specs`` describe to ``window``; returns the actions and
    the submenus by name. Handlers are looked up when an action runs."""
    menus: dict[str, QMenu] = {}
    actions: dict[str, QAction] = {}
    submenus: dict[str, QMenu] = {}
    for spec in specs:
        menu = menus.get(spec.menu)
        if menu is None:
            menu = menus[spec.menu] = window.menuBar().addMenu(spec.menu)
        if spec.separated:
            menu.addSeparator()
        if spec.kind is Kind.SUBMENU:
            submenus[spec.name] = menu.addMenu(spec.text)
            continue
        action = _make_action(window, spec, undo_stack)
        window.addAction(action)
        actions[spec.name] = action
        menu.addAction(action)
    return actions, submenus


def _make_action(window: QMainWindow, spec: ActionSpec, undo_stack: QUndoStack) -> QAction:
    if spec.kind is Kind.UNDO:
        action = undo_stack.createUndoAction(window, spec.text)
    elif spec.kind is Kind.REDO:
        action = undo_stack.createRedoAction(window, spec.text)
    else:
        action = QAction(spec.text, window)
        run = attrgetter(spec.handler)
        action.triggered.connect(lambda _checked=False: run(window)(*spec.args))
    action.setObjectName(f"action_{spec.name}")
    shortcut = spec.shortcut
    if isinstance(shortcut, QKeySequence.StandardKey) and not QKeySequence.keyBindings(shortcut):
        shortcut = spec.fallback
    if isinstance(shortcut, QKeySequence.StandardKey):
        # Every binding the platform has, once each (Ctrl+Y on Windows, Ctrl+Shift+Z
        # elsewhere for Redo): a sequence listed twice makes Qt call it ambiguous.
        action.setShortcuts(shortcut)
    elif shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if spec.tip:
        action.setStatusTip(spec.tip)
        action.setToolTip(spec.tip)
    return action


def enable(
    actions: Mapping[str, QAction], specs: Iterable[ActionSpec], state: Mapping[str, bool]
) -> None:
    """Enable each action whose spec names a state by that state's value."""
    for spec in specs:
        if spec.enabled_when is not None:
            actions[spec.name].setEnabled(state[spec.enabled_when])
