"""Stand-in for upstream's training/consts.py: the prompt keys its generate.py reads (the adapter checks the file is
there to recognise a checkout)."""
INSTRUCTION_KEY = "### Instruction:"
RESPONSE_KEY = "### Response:"
END_KEY = "### End"
