/*
 * Encodes and decodes a 16-bit mono WAV file frame by frame through the
 * codec's C interface, as a voice app does with 20 ms of microphone audio at
 * a time, and reports the median time a frame takes to encode and to decode.
 *
 * It also encodes the whole file in one push (what `codec encode` does) and
 * decodes the stream again with every tenth frame lost and concealed.
 *
 * usage: encode_decode IN.wav [STREAM.u16 WHOLE.u16 DECODED.f32]
 *
 * The optional outputs are raw files in the machine's byte order: the frame-by-frame codes,
 * the whole-file codes, and the frame-by-frame decoded samples trimmed to the
 * input's length. The tests compare them with `codec encode` and `codec decode`.
 *
 * Build (from the repository root, after `cargo build --release -p codec-ffi`):
 *   cc -O2 -Icodec-ffi/include codec-ffi/examples/c/encode_decode.c \
 *      -Ltarget/release -lcodec_ffi -Wl,-rpath,"$PWD/target/release" -o encode_decode
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"

/* The largest WAV this example reads: 30 minutes at 48 kHz. */
#define MAX_WAV_BYTES (30u * 60u * 48000u * 2u + 1024u)

static int fail(const char *what, CodecStatus status) {
    fprintf(stderr, "encode_decode: %s: %s (status %d)\n", what, codec_last_error_message(), (int)status);
    return 1;
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Reads a 16-bit mono PCM WAV file into floats in -1..1. Every chunk length
 * is checked against the bytes read before it is trusted. */
static float *read_wav(const char *path, uint32_t *rate, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "encode_decode: cannot open %s\n", path);
        return NULL;
    }
    unsigned char *bytes = malloc(MAX_WAV_BYTES);
    size_t len = bytes ? fread(bytes, 1, MAX_WAV_BYTES, f) : 0;
    int too_large = bytes && len == MAX_WAV_BYTES;
    fclose(f);
    float *pcm = NULL;
    const char *why = "not a RIFF WAVE file";
    if (too_large) {
        why = "larger than this example reads";
    } else if (len >= 12 && !memcmp(bytes, "RIFF", 4) && !memcmp(bytes + 8, "WAVE", 4)) {
        int have_format = 0;
        why = "no data chunk";
        for (size_t at = 12; at + 8 <= len;) {
            uint32_t size = le32(bytes + at + 4);
            const unsigned char *body = bytes + at + 8;
            if (size > len - at - 8) {
                why = "a chunk runs past the end of the file";
                break;
            }
            if (!memcmp(bytes + at, "fmt ", 4) && size >= 16) {
                if (le16(body) != 1 || le16(body + 2) != 1 || le16(body + 14) != 16) {
                    why = "not 16-bit mono PCM";
                    break;
                }
                *rate = le32(body + 4);
                have_format = 1;
            } else if (!memcmp(bytes + at, "data", 4) && have_format) {
                *count = size / 2;
                pcm = malloc((*count ? *count : 1) * sizeof *pcm);
                for (size_t i = 0; pcm && i < *count; i++) {
                    pcm[i] = (float)(int16_t)le16(body + 2 * i) / 32768.0f;
                }
                why = pcm ? NULL : "out of memory";
                break;
            }
            at += 8 + (size_t)size + (size & 1);
        }
    }
    free(bytes);
    if (!pcm && why) {
        fprintf(stderr, "encode_decode: %s: %s\n", path, why);
    }
    return pcm;
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    if (n == 0) {
        return 0.0;
    }
    qsort(v, n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static int write_raw(const char *path, const void *data, size_t size, size_t count) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, size, count, f) == count;
    if (f && fclose(f) != 0) {
        ok = 0;
    }
    if (!ok) {
        fprintf(stderr, "encode_decode: cannot write %s\n", path);
    }
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 5) {
        fprintf(stderr, "usage: encode_decode IN.wav [STREAM.u16 WHOLE.u16 DECODED.f32]\n");
        return 2;
    }
    uint32_t rate = 0;
    size_t n = 0;
    float *pcm = read_wav(argv[1], &rate, &n);
    if (!pcm) {
        return 1;
    }

    CodecModel *model = NULL;
    CodecStatus s = codec_model_open("default", &model);
    if (s != CODEC_OK) {
        return fail("opening the model", s);
    }
    CodecModelInfo info;
    if ((s = codec_model_info(model, &info)) != CODEC_OK) {
        return fail("reading the model's facts", s);
    }
    if (rate != info.sample_rate) {
        fprintf(stderr, "encode_decode: %s is %u Hz; the model takes %u Hz\n", argv[1], rate, info.sample_rate);
        return 1;
    }
    /* One network call per frame: the lowest delay, as a voice app runs it. */
    CodecStreamOptions streaming = {.block_frames = 1};
    CodecEncoder *enc = NULL;
    CodecDecoder *dec = NULL;
    if ((s = codec_encoder_new(model, &streaming, &enc)) != CODEC_OK) {
        return fail("creating the encoder", s);
    }
    if ((s = codec_decoder_new(model, &streaming, &dec)) != CODEC_OK) {
        return fail("creating the decoder", s);
    }
    size_t hop = info.hop, per_frame = codec_encoder_codes_per_frame(enc);
    size_t delay = codec_model_decoder_delay(model);
    size_t max_frames = (n + delay + hop - 1) / hop; /* every sample covered, and decoded */
    /* A flush is given room for the most it can write, which with the frames
     * before it may be more than the stream's length needs. */
    size_t flush_cap = codec_encoder_max_flush_codes(enc);
    size_t code_cap = max_frames * per_frame + flush_cap;
    uint16_t *codes = malloc(code_cap * sizeof *codes);
    float *out = malloc(max_frames * hop * sizeof *out);
    float *lossy = malloc(hop * sizeof *lossy);
    double *enc_us = malloc(max_frames * sizeof *enc_us), *dec_us = malloc(max_frames * sizeof *dec_us);
    if (!codes || !out || !lossy || !enc_us || !dec_us) {
        fprintf(stderr, "encode_decode: out of memory\n");
        return 1;
    }

    /* Frame by frame: 20 ms of PCM in, one frame of codes out, decoded at once. */
    size_t n_codes = 0, n_out = 0, timed = 0;
    for (size_t at = 0; at <= n; at += hop) {
        size_t take = n - at < hop ? n - at : hop, got = 0, played = 0;
        double t0 = now_us();
        s = take ? codec_encoder_push(enc, pcm + at, take, codes + n_codes, per_frame, &got)
                 : codec_encoder_flush(enc, codes + n_codes, flush_cap, &got);
        double t1 = now_us();
        if (s != CODEC_OK) {
            return fail("encoding", s);
        }
        if (take < hop && take) {
            size_t more = 0; /* the last, partial frame: end the stream too */
            if ((s = codec_encoder_flush(enc, codes + n_codes + got, flush_cap, &more)) != CODEC_OK) {
                return fail("flushing", s);
            }
            got += more;
        }
        double t2 = now_us();
        s = codec_decoder_push(dec, codes + n_codes, got, out + n_out, got / per_frame * hop, &played);
        double t3 = now_us();
        if (s != CODEC_OK) {
            return fail("decoding", s);
        }
        if (take == hop) { /* full frames only: the flush is not a frame's work */
            enc_us[timed] = t1 - t0;
            dec_us[timed++] = t3 - t2;
        }
        n_codes += got;
        n_out += played;
        if (take < hop) {
            break;
        }
    }
    size_t frames = n_codes / per_frame;

    /* The whole file in one push, with the default block of frames a call. */
    CodecEncoder *whole_enc = NULL;
    if ((s = codec_encoder_new(model, NULL, &whole_enc)) != CODEC_OK) {
        return fail("creating the whole-file encoder", s);
    }
    uint16_t *whole = malloc(code_cap * sizeof *whole);
    size_t n_whole = 0, tail = 0;
    if (!whole) {
        fprintf(stderr, "encode_decode: out of memory\n");
        return 1;
    }
    if ((s = codec_encoder_push(whole_enc, pcm, n, whole, max_frames * per_frame, &n_whole)) != CODEC_OK ||
        (s = codec_encoder_flush(whole_enc, whole + n_whole, flush_cap, &tail)) != CODEC_OK) {
        return fail("encoding the whole file", s);
    }
    n_whole += tail;
    size_t differ = 0;
    for (size_t i = 0; i < n_codes && i < n_whole; i++) {
        differ += codes[i] != whole[i];
    }

    /* Every tenth frame lost on the way: the decoder conceals it. */
    codec_decoder_reset(dec);
    size_t concealed = 0, lossy_out = 0;
    for (size_t f = 0; f < frames; f++) {
        size_t played = 0;
        s = f % 10 == 9 ? codec_decoder_conceal(dec, lossy, hop, &played)
                        : codec_decoder_push(dec, codes + f * per_frame, per_frame, lossy, hop, &played);
        if (s != CODEC_OK) {
            return fail("decoding with losses", s);
        }
        concealed += f % 10 == 9;
        lossy_out += played;
    }

    /* The decoder runs `delay` samples behind; the flush frames completed the last sample. */
    int bad = n_out != frames * hop - delay || n_whole != n_codes || lossy_out != n_out;
    printf("%zu samples at %u Hz: %zu frames of %zu codes (%zu differ from the whole-file encode), %zu samples "
           "decoded, %zu frames concealed\n",
           n, rate, frames, per_frame, differ, n_out, concealed);
    printf("per 20 ms frame, one thread, median of %zu: encode %.0f us, decode %.0f us\n", timed,
           median(enc_us, timed), median(dec_us, timed));
    if (bad) {
        fprintf(stderr, "encode_decode: inconsistent lengths: %zu codes (whole file %zu), %zu and %zu samples\n",
                n_codes, n_whole, n_out, lossy_out);
    }
    int written = 0;
    if (argc == 5) {
        written = write_raw(argv[2], codes, sizeof *codes, n_codes) || write_raw(argv[3], whole, sizeof *whole, n_whole) ||
                  write_raw(argv[4], out, sizeof *out, n_out < n ? n_out : n);
    }
    codec_encoder_free(enc);
    codec_encoder_free(whole_enc);
    codec_decoder_free(dec);
    codec_model_free(model);
    free(pcm);
    free(codes);
    free(whole);
    free(out);
    free(lossy);
    free(enc_us);
    free(dec_us);
    return bad || written;
}
