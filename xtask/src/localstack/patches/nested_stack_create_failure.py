            case "ROLLBACK_IN_PROGRESS":
                return ProgressEvent(
                    status=OperationStatus.IN_PROGRESS,
                    resource_model=model,
                    custom_context=request.custom_context,
                )
            case _:
                # CREATE_FAILED, ROLLBACK_COMPLETE, ROLLBACK_FAILED (patched in by `cargo xtask
                # localstack setup`): fail the resource with the nested stack's reasons, as AWS.
                failed = [
                    e["LogicalResourceId"]
                    for e in request.aws_client_factory.cloudformation.describe_stack_events(
                        StackName=model["Id"]
                    )["StackEvents"]
                    if e.get("ResourceStatus") == "CREATE_FAILED"
                    and e.get("PhysicalResourceId") != model["Id"]
                ]
                return ProgressEvent(
                    status=OperationStatus.FAILED,
                    resource_model=model,
                    custom_context=request.custom_context,
                    message=(
                        f"Embedded stack {model['Id']} was not successfully created: "
                        f"The following resource(s) failed to create: [{', '.join(failed)}]."
                    ),
                )

    def read(