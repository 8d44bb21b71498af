<?php
// Minimal standalone goridge echo worker for the ceiling driver (pipes relay).
// No SDK: frames are built/parsed with pack/unpack. Reads stdin in large chunks
// and parses frames out of a buffer, so one request costs ~1 read + 1 write.
//   handshake: reply CONTROL (0x01) {"pid":getmypid()}
//   exec:      reply flags 0, one option = header length, payload = header.body
//   stop:      CONTROL frame whose payload contains "stop" -> exit
declare(strict_types=1);

function frame(int $flags, string $payload, array $opts = []): string {
    $h = pack('CCV', 0x10 | (3 + count($opts)), $flags, strlen($payload));
    $h .= pack('V', crc32($h)) . "\0\0";
    foreach ($opts as $o) { $h .= pack('V', $o); }
    return $h . $payload;
}

$in = STDIN;
$out = STDOUT;
$buf = '';
while (true) {
    // Need the full header first.
    while (strlen($buf) < 12) {
        $chunk = fread($in, 65536);
        if ($chunk === false || $chunk === '') { exit(0); }
        $buf .= $chunk;
    }
    $b0 = ord($buf[0]);
    $flags = ord($buf[1]);
    $hl = $b0 & 0x0F;
    $plen = unpack('V', $buf, 2)[1];
    if ($hl < 3 || $hl > 13 || unpack('V', $buf, 6)[1] !== crc32(substr($buf, 0, 6))) {
        fwrite(STDERR, "raw-echo: bad frame header\n");
        exit(1);
    }
    $total = $hl * 4 + $plen;
    while (strlen($buf) < $total) {
        $chunk = fread($in, 65536);
        if ($chunk === false || $chunk === '') { exit(0); }
        $buf .= $chunk;
    }
    $nopts = $hl - 3;
    $payload = substr($buf, $hl * 4, $plen);
    $ctxLen = $nopts > 0 ? unpack('V', $buf, 12)[1] : 0;
    $buf = strlen($buf) === $total ? '' : substr($buf, $total);

    if ($flags & 0x01) {
        if (str_contains($payload, 'stop')) { exit(0); }
        if (str_contains($payload, 'pid')) {
            fwrite($out, frame(0x01, json_encode(['pid' => getmypid()])));
        }
        continue;
    }
    // Echo: header = the request context, body = the request body.
    fwrite($out, frame(0, $payload, [$ctxLen]));
}
