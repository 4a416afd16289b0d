exports.handler = function (event, context) {
    console.log('example event:', event);
    context.succeed('success!');
};
