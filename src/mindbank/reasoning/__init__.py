"""The ReasoningBank: items distilled from judged attempts, retrieved for new tasks."""
