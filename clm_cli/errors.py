"""Expected failures: each carries one sentence for the operator, never a traceback."""


class CliError(Exception):
    """A failure the operator can act on; its message is one complete sentence."""

    def __init__(self, sentence: str, exit_code: int = 1) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.exit_code = exit_code
