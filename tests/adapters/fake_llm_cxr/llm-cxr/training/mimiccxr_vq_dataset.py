"""Stand-in for LLM-CXR's training/mimiccxr_vq_dataset.py: the constants and instruction samplers the driver uses."""
import random

CXR_VQ_TOKENIZER_LEN = 50281
CXR_VQ_OUTPUT_INSTRUCTION_LIST = ["Generate a chest X-ray image that corresponds to the entered report.",
                                  "Create a chest X-ray image that matches the report."]
CXR_VQ_INPUT_INSTRUCTION_LIST = ["Generate free-text radiology reports for the entered chest X-ray images.",
                                 "Create free-text radiology reports for the entered images."]


def sample_cxr_vq_output_instruction():
    return random.choice(CXR_VQ_OUTPUT_INSTRUCTION_LIST)


def sample_cxr_vq_input_instruction():
    return random.choice(CXR_VQ_INPUT_INSTRUCTION_LIST)
