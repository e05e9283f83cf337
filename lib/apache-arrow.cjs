// apache-arrow for Node, loaded as CommonJS: the "#apache-arrow" import (package.json "imports").
// Its ES module build imports tslib and flatbuffers, which are CommonJS, and Node scans the source
// of every CommonJS module that an ES module imports for its export names; on tslib the scan ran
// long enough for V8 to compile the scanner (two ~80 ms jobs) in every process. Loaded through
// require(), only this short file is scanned. It names each export the package imports: a name
// missing here fails at load in Node ("does not provide an export named"), which every test that
// loads the readers catches. Browsers and bundlers get the ES module build ("default").
const arrow = require('apache-arrow');

exports.CompressionType = arrow.CompressionType;
exports.DataType = arrow.DataType;
exports.Field = arrow.Field;
exports.FixedSizeList = arrow.FixedSizeList;
exports.Float32 = arrow.Float32;
exports.Int32 = arrow.Int32;
exports.Message = arrow.Message;
exports.Precision = arrow.Precision;
exports.RecordBatch = arrow.RecordBatch;
exports.RecordBatchFileWriter = arrow.RecordBatchFileWriter;
exports.RecordBatchReader = arrow.RecordBatchReader;
exports.Schema = arrow.Schema;
exports.Struct = arrow.Struct;
exports.Table = arrow.Table;
exports.Utf8 = arrow.Utf8;
exports.compressionRegistry = arrow.compressionRegistry;
exports.makeData = arrow.makeData;
exports.makeVector = arrow.makeVector;
exports.vectorFromArray = arrow.vectorFromArray;
