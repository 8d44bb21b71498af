<?php
// goridge frames for the standalone (no SDK) PHP workers of this folder,
// raw-echo.php and capture.php: pack/unpack only.
declare(strict_types=1);

/** One frame: header (CRC over its first 6 bytes), options, payload. */
function frame(int $flags, string $payload, array $opts = []): string {
    $h = pack('CCV', 0x10 | (3 + count($opts)), $flags, strlen($payload));
    $h .= pack('V', crc32($h)) . "\0\0";
    foreach ($opts as $o) { $h .= pack('V', $o); }
    return $h . $payload;
}

/**
 * The next whole frame read from $in through $buf (large reads, so that one
 * request costs ~1 read): [flags, header words, payload length, frame bytes],
 * or null at EOF. A bad header ends the process with status 1.
 */
function next_frame($in, string &$buf, string $who): ?array {
    while (strlen($buf) < 12) {
        $chunk = fread($in, 65536);
        if ($chunk === false || $chunk === '') { return null; }
        $buf .= $chunk;
    }
    $hl = ord($buf[0]) & 0x0F;
    $flags = ord($buf[1]);
    $plen = unpack('V', $buf, 2)[1];
    if ($hl < 3 || $hl > 13 || unpack('V', $buf, 6)[1] !== crc32(substr($buf, 0, 6))) {
        fwrite(STDERR, "$who: bad frame header\n");
        exit(1);
    }
    $total = $hl * 4 + $plen;
    while (strlen($buf) < $total) {
        $chunk = fread($in, max(65536, $total - strlen($buf)));
        if ($chunk === false || $chunk === '') { return null; }
        $buf .= $chunk;
    }
    $frame = substr($buf, 0, $total);
    $buf = strlen($buf) === $total ? '' : substr($buf, $total);
    return [$flags, $hl, $plen, $frame];
}
