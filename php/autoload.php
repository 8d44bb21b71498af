<?php

declare(strict_types=1);

/*
 * PSR-4 autoloader for the Coyote SDK (no composer here: Packagist is out of
 * reach, so the SDK loads itself). Debian's PHP libraries (nyholm/psr7,
 * psr/http-factory, ...) ship their own autoloaders under /usr/share/php.
 */
spl_autoload_register(static function (string $class): void {
    $prefix = 'Coyote\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
