"""The app's colours, named by what they mean, so every panel speaks the same visual language.

Stylesheets and painters take these strings; a colour used for one meaning in one place and
another elsewhere is a bug to fix here, not in the panel.
"""

from __future__ import annotations

#: Body text on light surfaces.
TEXT = "#3c4043"
#: Secondary text: hints, notes, empty states, units.
MUTED = "#5f6368"
#: Tertiary text: tips that stay out of the way.
FAINT = "#80868b"
#: Lines and marks that should barely show (a chart's cursor, a step not reached yet).
QUIET = "#9aa0a6"
#: Icons of disabled commands.
DISABLED = "#bdc1c6"
#: Borders of cards and bars.
BORDER = "#dadce0"
#: Dashed borders of things that are examples or suggestions.
DASHED_BORDER = "#c6c6c6"

#: Neutral panels: a system message, a code block, a page bar.
SURFACE = "#f1f3f4"
#: Inline code inside a reply.
INLINE_CODE = "#eceff1"
#: A lighter neutral panel.
SURFACE_LIGHT = "#f8f9fa"
#: The background behind side-by-side answers.
CANVAS = "#fafafa"
WHITE = "#ffffff"

#: The app's accent: links, bars, information.
ACCENT = "#1a73e8"
ACCENT_LIGHT = "#8ab4f8"
ACCENT_BACKGROUND = "#e8f0fe"
ACCENT_TEXT = "#174ea6"

#: Errors: marks and lines, text, emphasis, and the background of an error note.
ERROR = "#d93025"
ERROR_TEXT = "#b3261e"
ERROR_STRONG = "#a50e0e"
ERROR_BACKGROUND = "#fce8e6"

#: Warnings: marks, borders, text and the background of a warning note.
WARNING = "#e8a000"
WARNING_BORDER = "#f9ab00"
WARNING_TEXT = "#8a5a00"
#: A state that waits on the user (paused), or an event logged as a warning.
CAUTION_TEXT = "#b06000"
WARNING_BACKGROUND = "#fef7e0"
#: The bar that offers to bring back unsaved work.
RECOVERY_BACKGROUND = "#fff4ce"
RECOVERY_BORDER = "#e0c36a"

#: Success: marks, text, strong text, and the background of a success note.
SUCCESS = "#1e8e3e"
SUCCESS_TEXT = "#137333"
SUCCESS_STRONG = "#188038"
SUCCESS_BACKGROUND = "#e6f4ea"

#: Chart series besides the accent: validation curves and overlaid runs.
SERIES_ORANGE = "#e8710a"
SERIES_PURPLE = "#9334e6"
SERIES_TEAL = "#12a4af"
SERIES_BROWN = "#a0522d"
SERIES_MAGENTA = "#d01884"
