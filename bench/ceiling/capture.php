<?php
// Capture worker for the HTTP ceiling (bench/ceiling/capture-http.sh): a
// standalone goridge worker (pipes, no SDK) that writes the first request
// frame it receives, byte for byte as it arrived (header, option, context,
// body), to the file named by its first argument, and answers every request
// with a plain 200 so the client sees the capture succeed.
//   usage (as a Coyote worker command): php capture.php OUT_FILE
declare(strict_types=1);

function frame(int $flags, string $payload, array $opts = []): string {
    $h = pack('CCV', 0x10 | (3 + count($opts)), $flags, strlen($payload));
    $h .= pack('V', crc32($h)) . "\0\0";
    foreach ($opts as $o) { $h .= pack('V', $o); }
    return $h . $payload;
}

$outFile = $argv[1] ?? '';
if ($outFile === '') { fwrite(STDERR, "capture.php: usage: php capture.php OUT_FILE\n"); exit(2); }
$captured = false;
$buf = '';
while (true) {
    while (strlen($buf) < 12) {
        $chunk = fread(STDIN, 65536);
        if ($chunk === false || $chunk === '') { exit(0); }
        $buf .= $chunk;
    }
    $hl = ord($buf[0]) & 0x0F;
    $flags = ord($buf[1]);
    $plen = unpack('V', $buf, 2)[1];
    if ($hl < 3 || $hl > 13 || unpack('V', $buf, 6)[1] !== crc32(substr($buf, 0, 6))) {
        fwrite(STDERR, "capture.php: bad frame header\n");
        exit(1);
    }
    $total = $hl * 4 + $plen;
    while (strlen($buf) < $total) {
        $chunk = fread(STDIN, 1 << 20);
        if ($chunk === false || $chunk === '') { exit(0); }
        $buf .= $chunk;
    }
    $frame = substr($buf, 0, $total);
    $payload = substr($frame, $hl * 4);
    $buf = (string) substr($buf, $total);
    if ($flags & 0x01) { // CONTROL: handshake or stop
        if (str_contains($payload, 'stop')) { exit(0); }
        fwrite(STDOUT, frame(0x01, json_encode(['pid' => getmypid()])));
        continue;
    }
    if (!$captured) {
        file_put_contents($outFile, $frame);
        $captured = true;
    }
    if ($flags & 0x80) { // the context came as protobuf: answer http.v1.Response{status: 200}
        $ctx = "\x08\xC8\x01";
        fwrite(STDOUT, frame(0x80, $ctx . "captured\n", [strlen($ctx)]));
    } else {
        $ctx = '{"status":200,"headers":{"Content-Type":["text/plain"]}}';
        fwrite(STDOUT, frame(0x08, $ctx . "captured\n", [strlen($ctx)]));
    }
}
