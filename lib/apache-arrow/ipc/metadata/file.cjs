// See ../../../apache-arrow.cjs.
exports.Footer = require('apache-arrow/ipc/metadata/file').Footer;
