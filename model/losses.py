"""Contrastive loss for retrieval."""

import torch
import torch.nn.functional as F


def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Symmetric InfoNCE with in-batch negatives.

    queries, keys: (B, D), L2-normalised, row i of each is a positive pair; every other row of the
    batch is a negative. Averages the query->key and key->query cross-entropies.
    """
    logits = queries @ keys.T / temperature                       # (B, B) cosine / temperature
    targets = torch.arange(queries.shape[0], device=queries.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def similarity_distillation(queries: torch.Tensor, keys: torch.Tensor, teacher_queries: torch.Tensor,
                            teacher_keys: torch.Tensor, temperature: float = 0.05,
                            teacher_temperature: float = 0.05) -> torch.Tensor:
    """KL(teacher || student) between the in-batch similarity distributions, both directions.

    queries, keys: (B, D) our unit embeddings; teacher_queries, teacher_keys: (B, D_t) the teacher's
    unit embeddings of the same texts. Dimensions may differ: only the (B, B) similarity matrices
    are compared, so the teacher also ranks the negatives, not only the positive.
    """
    student = queries @ keys.T / temperature                                  # (B, B)
    teacher = teacher_queries @ teacher_keys.T / teacher_temperature          # (B, B)

    def kl(s, t):
        return F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), log_target=True, reduction="batchmean")

    return 0.5 * (kl(student, teacher) + kl(student.T, teacher.T))


def code_similarity_distillation(codes: torch.Tensor, teacher_codes: torch.Tensor, temperature: float = 0.05,
                                 teacher_temperature: float = 0.05) -> torch.Tensor:
    """KL(teacher || student) between the in-batch code->code similarity distributions.

    codes: (B, D) our unit embeddings; teacher_codes: (B, D_t) the teacher's of the same code. Each
    row ranks the batch's other functions (itself masked out), which is what similar-code search
    asks of the encoder and what the query->code terms never show it.
    """
    self_pairs = torch.eye(codes.shape[0], dtype=torch.bool, device=codes.device)
    student = (codes @ codes.T / temperature).masked_fill(self_pairs, float("-inf"))                  # (B, B)
    teacher = (teacher_codes @ teacher_codes.T / teacher_temperature).masked_fill(self_pairs, float("-inf"))
    log_s, log_t = F.log_softmax(student, 1), F.log_softmax(teacher, 1)
    # The masked diagonal is -inf on both sides; its terms are zero, not NaN.
    return (log_t.exp() * (log_t - log_s)).masked_fill(self_pairs, 0.0).sum(1).mean()
