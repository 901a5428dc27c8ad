"""What the decoder tests share: decoding a latent in pieces, carrying the state."""

import torch


@torch.no_grad()
def decode_in_pieces(dec, latent, pieces):
    """-> (the whole decoded at once, the pieces' outputs joined, the state after the last piece)."""
    batch = latent.shape[0]
    whole, _ = dec(latent, torch.zeros(batch, dec.state_size))
    state, parts, t = torch.zeros(batch, dec.state_size), [], 0
    for n in pieces:
        y, state = dec(latent[:, :, t : t + n], state)
        parts.append(y)
        t += n
    assert t == latent.shape[2], "the pieces must cover the latent"
    return whole, torch.cat(parts, dim=2), state
