/*
 * c-echo.c - reference goridge echo worker in C (pipes relay), for the ceiling
 * only: it shows what the driver reaches when the worker costs ~nothing, i.e.
 * the kernel's pipe + wake-up cost on this machine. Not a real worker: it does
 * not validate frames beyond what echoing needs.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t crc_table[256];
static uint32_t crc6(const uint8_t *p) {
    uint32_t c = 0xFFFFFFFFu;
    for (int i = 0; i < 6; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
static void set_crc(uint8_t *h) {
    uint32_t c = crc6(h);
    h[6] = (uint8_t)c; h[7] = (uint8_t)(c >> 8); h[8] = (uint8_t)(c >> 16); h[9] = (uint8_t)(c >> 24);
}
static int write_all(const uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = write(1, p, n);
        if (r <= 0) return -1;
        p += r; n -= (size_t)r;
    }
    return 0;
}

int main(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    /* Grows to the largest frame seen (up to 1 GiB): a whole frame is read
     * before it is echoed, like a PHP worker does. */
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    if (!buf) return 1;
    size_t have = 0;
    for (;;) {
        ssize_t r = read(0, buf + have, cap - have);
        if (r <= 0) return 0;
        have += (size_t)r;
        while (have >= 12) {
            size_t hl = buf[0] & 0x0F;
            uint32_t pl = (uint32_t)buf[2] | (uint32_t)buf[3] << 8 | (uint32_t)buf[4] << 16 |
                          (uint32_t)buf[5] << 24;
            size_t tot = hl * 4 + pl;
            if (tot > ((size_t)1 << 30) + 64) return 1;
            if (tot > cap) {
                uint8_t *nb = realloc(buf, tot);
                if (!nb) return 1;
                buf = nb;
                cap = tot;
            }
            if (have < tot) break;
            if (buf[1] & 0x01) { /* CONTROL: stop or pid handshake */
                if (memmem(buf + hl * 4, pl, "stop", 4)) return 0;
                uint8_t o[64];
                int n = snprintf((char *)o + 12, sizeof o - 12, "{\"pid\":%d}", (int)getpid());
                memset(o, 0, 12);
                o[0] = 0x13; o[1] = 0x01; o[2] = (uint8_t)n;
                set_crc(o);
                if (write_all(o, 12 + (size_t)n)) return 1;
            } else { /* echo: same options (context length) and payload, flags 0 */
                buf[1] = 0;
                set_crc(buf);
                if (write_all(buf, tot)) return 1;
            }
            memmove(buf, buf + tot, have - tot);
            have -= tot;
        }
    }
}
