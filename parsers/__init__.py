"""Built-in parsers, installed as the import package ``logtrace_parsers``."""
