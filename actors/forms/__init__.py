"""Server-side validation of Form.io forms: refuse at save what cannot be checked, check every submission again.

`check_definition` runs when an administrator saves a form definition; `validate_submission` re-validates the
`data` of a submission as Form.io's own server would (@formio/core `src/process/`). Both return `FieldError`s
ready for an RFC 9457 problem's `errors` list.
"""

from actors.forms.definition import check_definition
from actors.forms.errors import DefinitionError, FieldError
from actors.forms.validate import Checked, check_submission, validate_submission

__all__ = ["Checked", "DefinitionError", "FieldError", "check_definition", "check_submission", "validate_submission"]
