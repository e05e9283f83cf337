// See ../../apache-arrow.cjs.
exports.VectorLoader = require('apache-arrow/visitor/vectorloader').VectorLoader;
