#!/usr/bin/python3
"""PyTorch reference of the asyncvla model, written independently of the C++ code.

It runs the whole sequence at once (no kv-cache), with the block attention mask of DESIGN.md
section 4, and computes the unified flow-matching loss of the paper (Alg. 2, Eqs. 4-5).

usage: asyncvla_ref.py DIR
  DIR/config.json, DIR/model.safetensors   the checkpoint (as written by asyncvla)
  DIR/inputs.safetensors                   images, state, tokens, token_mask, actions, noise, tau,
                                           mask, valid
writes DIR/reference.safetensors with velocity and velocity_cached (B, L, A), and loss ().
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        arr = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=DTYPES[entry["dtype"]])
        out[name] = torch.from_numpy(arr.reshape(entry["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    names = {np.float32: "F32", np.float64: "F64", np.int64: "I64", np.uint8: "U8"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].detach().numpy())
        blob = arr.tobytes()
        header[name] = {"dtype": names[arr.dtype.type], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class Reference:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w

    def rms(self, x, name):
        x32 = x.float()
        return x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.c["rms_eps"]) * self.w[name]

    def lin(self, x, name, bias=True):
        b = self.w.get(name + ".bias") if bias else None
        return F.linear(x, self.w[name + ".weight"], b)

    def rotary(self, n, hd):
        inv = 1.0 / (self.c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        freqs = torch.outer(torch.arange(n, dtype=torch.float64), inv)
        emb = torch.cat([freqs, freqs], -1)
        return emb.cos().float(), emb.sin().float()

    def layer(self, x, p, n_head, n_kv, rope, bias_mask, past=None, kv_out=None):
        B, T, D = x.shape
        hd = D // n_head
        h = self.rms(x, p + "input_layernorm.weight")
        qkv = self.lin(h, p + "self_attn.qkv_proj")
        q, k, v = qkv.split([n_head * hd, n_kv * hd, n_kv * hd], -1)
        q = q.view(B, T, n_head, hd).transpose(1, 2)
        k = k.view(B, T, n_kv, hd).transpose(1, 2)
        v = v.view(B, T, n_kv, hd).transpose(1, 2)
        if rope is not None:
            cos, sin = rope

            def rot(t):
                t1, t2 = t[..., :hd // 2], t[..., hd // 2:]
                return t * cos + torch.cat([-t2, t1], -1) * sin
            q, k = rot(q), rot(k)
        if kv_out is not None:
            kv_out.append((k, v))
        if past is not None:  # cached prefix keys/values go first
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        # repeat kv heads: head h uses kv head h // (n_head / n_kv)
        k = k.repeat_interleave(n_head // n_kv, dim=1)
        v = v.repeat_interleave(n_head // n_kv, dim=1)
        att = q @ k.transpose(-1, -2) / math.sqrt(hd)
        if bias_mask is not None:
            att = att + bias_mask
        o = att.softmax(-1) @ v
        o = o.transpose(1, 2).reshape(B, T, n_head * hd)
        x = x + self.lin(o, p + "self_attn.o_proj", bias=False)
        h = self.rms(x, p + "post_attention_layernorm.weight")
        gate, up = self.lin(h, p + "mlp.gate_up_proj", bias=False).chunk(2, -1)
        return x + self.lin(F.silu(gate) * up, p + "mlp.down_proj", bias=False)

    def vision(self, images):
        c, w = self.c, self.w
        B, n_cam = images.shape[:2]
        S, ps, vd = c["image_size"], c["patch_size"], c["vision_dim"]
        g = S // ps
        x = images.reshape(B * n_cam, 3, S, S).float() * (2.0 / 255.0) - 1.0
        if c.get("vision_stem", "patch") == "conv":
            # early convolutions: 3x3 stride-2 convs with gelu, then a 1x1 projection
            i = 0
            while f"vision_encoder.stem.{i}.weight" in w:
                x = F.gelu(F.conv2d(x, w[f"vision_encoder.stem.{i}.weight"],
                                    w[f"vision_encoder.stem.{i}.bias"], stride=2, padding=1))
                i += 1
            x = F.conv2d(x, w["vision_encoder.stem_proj.weight"], w["vision_encoder.stem_proj.bias"])
        else:
            x = F.conv2d(x, w["vision_encoder.patch_embed.weight"],
                         w["vision_encoder.patch_embed.bias"], stride=ps)
        x = x.permute(0, 2, 3, 1)
        x = x + w["vision_encoder.pos_embed_row"][:, None, :] + w["vision_encoder.pos_embed_col"][None, :, :]
        x = x.reshape(B * n_cam, g * g, vd)
        for i in range(c["vision_layers"]):
            x = self.layer(x, f"vision_encoder.layers.{i}.", c["vision_heads"], c["vision_heads"],
                           None, None)
        x = self.rms(x, "vision_encoder.merger_norm.weight")
        # merge each 2x2 block of neighbouring patches: (row pair, col pair) -> 4 * vd features
        x = x.view(B * n_cam, g // 2, 2, g // 2, 2, vd).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(B * n_cam, (g // 2) ** 2, 4 * vd)
        x = self.lin(F.gelu(self.lin(x, "vision_encoder.merger_fc1")), "vision_encoder.merger_fc2")
        return x.reshape(B, n_cam * (g // 2) ** 2, c["d_model"])

    def time_embedding(self, t):
        d = self.c["d_model"]
        lo, hi = self.c["time_min_period"], self.c["time_max_period"]
        frac = torch.linspace(0.0, 1.0, d // 2, dtype=torch.float64)
        period = lo * (hi / lo) ** frac
        ang = t.double()[..., None] * (2 * math.pi / period)
        return torch.cat([ang.sin(), ang.cos()], -1).float()

    def prefix(self, inp):
        img = self.vision(inp["images"])
        txt = F.embedding(inp["tokens"], self.w["backbone.embed_tokens.weight"])
        st = self.lin(inp["state"], "backbone.state_proj")[:, None, :]
        key_ok = torch.cat([torch.ones(img.shape[0], img.shape[1], dtype=torch.bool),
                            inp["token_mask"].bool(), torch.ones(img.shape[0], 1, dtype=torch.bool)], 1)
        return torch.cat([img, txt, st], 1), key_ok

    def embed_actions(self, noisy, token_time):
        h = torch.cat([self.time_embedding(token_time), self.lin(noisy, "action_embedding.action_in_proj")], -1)
        return self.lin(F.silu(self.lin(h, "action_embedding.time_mlp_in")), "action_embedding.time_mlp_out")

    def encode_prefix(self, inp, want_hidden=False):
        """kv-cache variant (used by bench/reference_bench.py): per-layer prefix keys/values,
        and with want_hidden the prefix's final hidden states (the rater's input)."""
        c = self.c
        x, key_ok = self.prefix(inp)
        bias = torch.zeros(key_ok.shape).masked_fill(~key_ok, -1e9)[:, None, None, :]
        rope = self.rotary(x.shape[1], c["d_model"] // c["n_head"])
        cache = []
        for i in range(c["n_layer"]):
            x = self.layer(x, f"backbone.layers.{i}.", c["n_head"], c["n_kv_head"], rope, bias, kv_out=cache)
        if want_hidden:
            return cache, bias, self.rms(x, "backbone.norm.weight")
        return cache, bias

    def rate(self, rc, prefix_hidden, bias, actions):
        """confidence rater: [proj(prefix hidden) | proj(actions) + positions], full attention,
        sigmoid(rate head) per action token -> (B, L). rater weights are under 'rater.'."""
        B, P = prefix_hidden.shape[:2]
        L = actions.shape[1]
        x = torch.cat([self.lin(prefix_hidden, "rater.prefix_proj"),
                       self.lin(actions, "rater.action_proj") + self.w["rater.action_pos"]], 1)
        full_bias = torch.cat([bias, torch.zeros(B, 1, 1, L)], -1)
        rope = self.rotary(P + L, rc["d_model"] // rc["n_head"])
        for i in range(rc["n_layer"]):
            x = self.layer(x, f"rater.layers.{i}.", rc["n_head"], rc["n_head"], rope, full_bias)
        x = self.rms(x[:, P:], "rater.norm.weight")
        return torch.sigmoid(self.lin(x, "rater.rate_head").squeeze(-1))

    def act(self, inp, rc, noise, noise2, threshold, n_steps):
        """alg. 1: sfm from noise, rate, mask = p < T (eq. 3), afm: masked tokens restart from
        noise2, context tokens keep their sfm values at time 0, euler on masked tokens only."""
        cache, bias, hidden = self.encode_prefix(inp, want_hidden=True)
        B, L, _ = noise.shape
        delta = 1.0 / n_steps
        x = noise.clone()
        for k in range(n_steps):
            tau = 1.0 - k * delta
            x = x - delta * self.velocity_cached(cache, bias, x, torch.full((B, L), tau))
        sfm = x
        p = self.rate(rc, hidden, bias, sfm)
        mask = p < threshold
        m = mask.float()
        x = torch.where(mask[..., None], noise2, sfm)                       # eq. 2
        for k in range(n_steps):
            tau = 1.0 - k * delta
            v = self.velocity_cached(cache, bias, x, tau * m)
            x = torch.where(mask[..., None], x - delta * v, x)              # eq. 1
        return sfm, p, mask, x

    def velocity_cached(self, cache, bias, noisy, token_time):
        c = self.c
        x = self.embed_actions(noisy, token_time)
        B, L = x.shape[:2]
        P = bias.shape[-1]
        full_bias = torch.cat([bias, torch.zeros(B, 1, 1, L)], -1)
        cos, sin = self.rotary(P + L, c["d_model"] // c["n_head"])
        rope = (cos[P:], sin[P:])
        for i in range(c["n_layer"]):
            x = self.layer(x, f"backbone.layers.{i}.", c["n_head"], c["n_kv_head"], rope, full_bias,
                           past=cache[i])
        return self.lin(self.rms(x, "backbone.norm.weight"), "action_out_proj")

    def velocity(self, inp, noisy, token_time):
        c = self.c
        prefix, key_ok = self.prefix(inp)
        B, P, _ = prefix.shape
        L = noisy.shape[1]
        x = torch.cat([prefix, self.embed_actions(noisy, token_time)], 1)
        # block mask: prefix queries see the valid prefix; action queries see it and all actions
        key_ok = torch.cat([key_ok, torch.ones(B, L, dtype=torch.bool)], 1)
        allowed = key_ok[:, None, None, :].expand(B, 1, P + L, P + L).clone()
        allowed[:, :, :P, P:] = False
        bias = torch.zeros(allowed.shape).masked_fill(~allowed, -1e9)
        rope = self.rotary(P + L, c["d_model"] // c["n_head"])
        for i in range(c["n_layer"]):
            x = self.layer(x, f"backbone.layers.{i}.", c["n_head"], c["n_kv_head"], rope, bias)
        x = self.rms(x, "backbone.norm.weight")
        return self.lin(x[:, P:], "action_out_proj")


def main_act(d):
    """alg. 1 on a checkpoint with a rater, from the noise the c++ side drew."""
    cfg = json.load(open(d + "/config.json"))["model"]
    rc = json.load(open(d + "/rater.json"))
    w = read_safetensors(d + "/model.safetensors")
    w.update({"rater." + k: v for k, v in read_safetensors(d + "/rater.safetensors").items()})
    inp = read_safetensors(d + "/act_inputs.safetensors")
    ref = Reference(cfg, w)
    with torch.no_grad():
        sfm, p, mask, final = ref.act(inp, rc, inp["noise"], inp["noise2"],
                                      inp["threshold"].item(), cfg["n_flow_steps"])
    write_safetensors(d + "/act_reference.safetensors",
                      {"sfm": sfm, "confidence": p, "mask": mask.to(torch.uint8), "final": final})
    print(f"reference alg. 1: {int(mask.sum())} of {mask.numel()} tokens regenerated, "
          f"confidence {p.min().item():.4f}..{p.max().item():.4f}")


def main():
    d = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "act":
        return main_act(d)
    cfg = json.load(open(d + "/config.json"))["model"]
    w = read_safetensors(d + "/model.safetensors")
    inp = read_safetensors(d + "/inputs.safetensors")
    ref = Reference(cfg, w)
    a, n, tau, m, valid = inp["actions"], inp["noise"], inp["tau"], inp["mask"], inp["valid"]
    with torch.no_grad():
        noisy = a - tau[:, None, None] * (a - n) * m[..., None]          # eq. 5
        v = ref.velocity(inp, noisy, tau[:, None] * m)
        cache, bias = ref.encode_prefix(inp)
        v_cached = ref.velocity_cached(cache, bias, noisy, tau[:, None] * m)
        u = n - a
        wgt = (m * valid)[..., None]
        loss = ((v - u) ** 2 * wgt).sum() / (wgt.sum() * a.shape[-1])    # eq. 4
    write_safetensors(d + "/reference.safetensors", {"velocity": v, "velocity_cached": v_cached,
                                                        "loss": loss.reshape(())})
    print(f"reference: velocity {tuple(v.shape)}, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
